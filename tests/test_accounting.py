"""Reward accounting: shares of the return, the weight advice, relative weights."""

import math

import numpy as np
import pytest

from genreward_cli.errors import BadInput
from genreward_cli.rewards.accounting import (
    TARGET_SHARE, WARN_SHARE, abs_sums, percent, complement_weight_for_share, low_share_lines,
    relative_scale, shares, shares_from_sums, weight_for_share,
)


def constructed_episode(alpha=0.01, beta=0.5):
    """10 steps: env 2 at every step, video 0.5 at steps 4 and 9, fb -4 at step 9."""
    env = np.full(10, 2.0)
    video = np.zeros(10)
    video[[4, 9]] = 0.5
    fb = np.zeros(10)
    fb[9] = -4.0
    total = env + alpha * video + beta * fb
    return {"env": env, "video": video, "fb": fb, "total": total}, {"env": 1.0, "video": alpha,
                                                                     "fb": beta}


def test_shares_equal_the_closed_form():
    parts, weights = constructed_episode()
    # |total| = 8 steps of 2, 2.005 at step 4, |2 + 0.005 - 2| = 0.005 at step 9
    denominator = 8 * 2 + 2.005 + 0.005
    got = shares(parts, weights)
    assert got["env"] == pytest.approx(20 / denominator)
    assert got["video"] == pytest.approx(2 * 0.01 * 0.5 / denominator)
    assert got["fb"] == pytest.approx(0.5 * 4 / denominator)
    # the components cancel at step 9, so the shares add to more than one
    assert sum(got.values()) > 1
    # sums add across episodes: two copies share like one
    s = abs_sums(parts, weights)
    doubled = shares_from_sums({k: 2 * v for k, v in s.items()})
    assert doubled == pytest.approx(got)
    # no return at all: no share
    zero = {k: np.zeros(3) for k in ("env", "total")}
    assert math.isnan(shares(zero, {"env": 1.0})["env"])


def test_weight_for_share_reaches_the_target():
    parts, weights = constructed_episode()
    # video overlaps the env reward (paid every step): check the solved weight exactly
    w = weight_for_share(parts["video"], weights["video"], parts["total"], 0.1)
    new_total = parts["total"] + (w - weights["video"]) * parts["video"]
    assert w * np.abs(parts["video"]).sum() / np.abs(new_total).sum() == pytest.approx(0.1)
    # components apart in time: the closed form target R / (C (1 - target))
    c = np.array([0.0, 0.0, 3.0, 0.0])
    rest = np.array([1.0, -2.0, 0.0, 5.0])
    w = weight_for_share(c, 0.2, rest + 0.2 * c, 0.25)
    assert w == pytest.approx(0.25 * 8 / (3 * 0.75), rel=1e-9)
    assert weight_for_share(np.zeros(4), 1.0, rest, 0.1) is None
    with pytest.raises(ValueError):
        weight_for_share(c, 1.0, rest, 1.5)


@pytest.mark.parametrize("alpha", [0.0019, 0.0021])
def test_low_share_line_fires_exactly_under_the_threshold(alpha):
    # env 1 at 99 steps, video 1 at the last step only: share = alpha / (99 + alpha)
    env = np.r_[np.ones(99), 0.0]
    video = np.r_[np.zeros(99), 1.0]
    parts = {"env": env, "video": video, "total": env + alpha * video}
    weights = {"env": 1.0, "video": alpha}
    sums = abs_sums(parts, weights)
    share = shares_from_sums(sums)["video"]
    assert share == pytest.approx(alpha / (99 + alpha))
    threshold = 0.002 / (99 + 0.002)  # between the two alphas' shares
    lines = low_share_lines(sums, parts, weights, {"video": "--alpha"}, threshold=threshold)
    assert (len(lines) == 1) == (share < threshold)
    if lines:
        # the advice: alpha that makes video 10% = 0.1 * 99 / (1 * 0.9) = 11
        assert lines[0].startswith("video is ") and "--alpha 11 would make it 10%" in lines[0]
    # at the default threshold (1%) both are flagged, the env never
    lines = low_share_lines(sums, parts, weights, {"video": "--alpha"})
    assert len(lines) == 1 and WARN_SHARE == 0.01 and TARGET_SHARE == 0.1


def test_relative_advice_gives_the_option_value_not_the_weight():
    """Under --alpha-mode relative the weight is alpha x sigma_env: the advice names the
    --alpha that gives 10%, the weight divided by sigma_env (11 / 4 here), and the current
    --alpha, not the weight."""
    sigma, alpha = 4.0, 0.0005
    env = np.r_[np.ones(99), 0.0]
    video = np.r_[np.zeros(99), 1.0]
    weights = {"env": 1.0, "video": alpha * sigma}
    parts = {"env": env, "video": video, "total": env + weights["video"] * video}
    lines = low_share_lines(abs_sums(parts, weights), parts, weights,
                            {"video": "--alpha (relative)"}, scales={"video": sigma})
    assert len(lines) == 1
    assert "(--alpha (relative) 0.0005)" in lines[0], lines[0]
    assert "--alpha (relative) 2.75 would make it 10%" in lines[0], lines[0]


def test_advice_for_weights_that_add_up_to_one_gives_the_partners_option():
    """Diffusion Reward weighs the entropy by 1 - s and RND by s: entropy 1 at two steps, RND
    10 at two others, so the entropy's share is 2w / (2w + 20 (1 - w)), 10% at w = 2 / 3.8;
    the advice names s = 1 - w, never a weight outside [0, 1]."""
    c, p = np.array([1.0, 1.0, 0.0, 0.0]), np.array([0.0, 0.0, 10.0, 10.0])
    weights = {"diffusion": 0.05, "rnd": 0.95}
    parts = {"diffusion": c, "rnd": p, "total": 0.05 * c + 0.95 * p}
    w = complement_weight_for_share(c, p, 0.05, parts["total"], 0.1)
    assert w == pytest.approx(2 / 3.8, rel=1e-9)
    labels = {"diffusion": "1 - --diffusion-reward-expl-scale =",
              "rnd": "--diffusion-reward-expl-scale"}
    line, = low_share_lines(abs_sums(parts, weights), parts, weights, labels,
                            complements={"diffusion": "rnd"})
    assert line.endswith(f"--diffusion-reward-expl-scale {1 - 2 / 3.8:.3g} would make it 10% on "
                         "these episodes"), line
    # a success term of 100 a step: even s = 0 leaves the entropy under 10%
    success = np.full(4, 100.0)
    parts = {"diffusion": c, "rnd": p, "success": success,
             "total": parts["total"] + success}
    assert complement_weight_for_share(c, p, 0.05, parts["total"], 0.1) is None
    line, = [x for x in low_share_lines(abs_sums(parts, {**weights, "success": 1.0}), parts,
                                        {**weights, "success": 1.0}, labels,
                                        complements={"diffusion": "rnd"})
             if x.startswith("diffusion")]
    assert line.endswith("no --diffusion-reward-expl-scale in [0, 1] makes it 10% on these "
                         "episodes"), line


def test_a_component_no_option_weighs_gets_its_share_not_a_weight_to_set():
    """`--reward roboclip --add-env-reward`: the env reward and S3D's weigh 1 each, and no
    option sets either; the advice named `its weight 1.9e+03 would make it 10%`, a weight
    the user cannot give. A fixed component's line gives its share alone."""
    env = np.r_[np.ones(99), 0.0]
    s3d = np.r_[np.zeros(99), 0.5]
    parts = {"env": env, "s3d": s3d, "total": env + s3d}
    weights = {"env": 1.0, "s3d": 1.0}
    lines = low_share_lines(abs_sums(parts, weights), parts, weights, {})
    assert lines == [f"s3d is {percent(0.5 / 99.5)} of the return (weight 1, which no option "
                     "sets)"], lines


def test_a_component_zero_everywhere_is_said_so():
    parts = {"env": np.ones(5), "fb": np.zeros(5), "total": np.ones(5)}
    lines = low_share_lines(abs_sums(parts, {"env": 1.0, "fb": 1e-5}), parts,
                            {"env": 1.0, "fb": 1e-5}, {"fb": "--beta"})
    assert lines == ["fb is 0% of the return (--beta 1e-05): it is zero at every step, no "
                     "weight changes that"]


def test_relative_scale_is_the_env_rewards_standard_deviation():
    rng = np.random.default_rng(0)
    env = rng.normal(3.0, 2.5, size=5000)
    assert relative_scale(env, "the prefill") == pytest.approx(np.std(env))
    assert relative_scale(np.array([0.0, 0.0, 10.0, 10.0]), "x") == 5.0
    with pytest.raises(BadInput, match="constant over the prefill"):
        relative_scale(np.zeros(100), "the prefill")
    with pytest.raises(BadInput, match="has 1 step"):
        relative_scale(np.ones(1), "the prefill")


def test_percent_reads_as_people_write_shares():
    from genreward_cli.rewards.accounting import percent

    assert percent(1.0) == "100%" and percent(0.42) == "42%" and percent(0.1) == "10%"
    assert percent(0.0123) == "1.2%" and percent(2.4e-5) == "0.0024%" and percent(0.0) == "0%"
    assert percent(float("nan")) == "n/a"
