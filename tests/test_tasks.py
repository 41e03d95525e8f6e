import pytest

from genreward_cli.envs import gl  # noqa: F401
from genreward_cli.envs.tasks import PAPER_TASKS, TASKS


def test_task_table_covers_every_metaworld_v3_task():
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS
    from metaworld.policies import ENV_POLICY_MAP

    assert set(TASKS) == set(ALL_V3_ENVIRONMENTS)
    assert set(PAPER_TASKS) <= set(TASKS)
    assert set(TASKS) <= set(ENV_POLICY_MAP), "every task has a scripted expert"
    assert all(desc and desc == desc.strip() and desc.islower() for desc in TASKS.values())
    assert TASKS["pick-place-v3"] == "pick up the puck and place it at the goal"


@pytest.mark.parametrize("name, says", [
    ("Pick-Place-V3", "did you mean pick-place-v3? (task names are lower case"),
    ("PICK-PLACE-V3", "did you mean pick-place-v3? (task names are lower case"),
    ("pick-place-v3 ", "did you mean pick-place-v3? (task names are lower case, without spaces"),
    ("pick-place-v2", "v2 environments are not installed, only the v3 ones; did you mean "
                      "pick-place-v3?"),
    ("Drawer-Open-V2", "did you mean drawer-open-v3?"),
    ("pick-plac-v3", "did you mean pick-place-v3"),
])
def test_a_task_name_that_is_nearly_right_names_the_task_meant(name, says):
    """`Pick-Place-V3` got close matches with noise (`stick-pull-v3`), `PICK-PLACE-V3` none,
    `pick-place-v2` no word that v2 is not installed, and `'pick-place-v3 '` a suggestion
    that looked identical."""
    from genreward_cli.envs.tasks import check_task
    from genreward_cli.errors import BadInput

    with pytest.raises(BadInput) as e:
        check_task(name)
    assert str(e.value).startswith(f"unknown Meta-World task {name!r}") and says in str(e.value)
    assert "stick-pull" not in str(e.value)


def test_train_video_model_refuses_an_unknown_task(tmp_path):
    """Its --task keys the reward statistics: `Pick-Place-V2` trained and wrote statistics
    that train-agent and score-reward could never find."""
    from helpers import run

    r = run("train-video-model", tmp_path / "none.h5", "--task", "Pick-Place-V2",
            "--out", tmp_path / "m")
    assert r.exit_code == 2 and "unknown Meta-World task 'Pick-Place-V2'" in r.stderr, r.stderr
    assert not (tmp_path / "m").exists()
