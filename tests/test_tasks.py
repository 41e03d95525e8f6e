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
