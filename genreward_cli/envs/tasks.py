"""The Meta-World v3 single tasks and their natural-language descriptions.

The description is the text CLIP scores goal frames against (eq. 6) and the default prompt
for goal-video generation. Descriptions are short imperative sentences in the style of the
paper's prompts ("pick up the blue fork").
"""

from __future__ import annotations

import difflib

from genreward_cli.errors import BadInput

# name -> description; all 50 Meta-World v3 tasks (metaworld.env_dict.ALL_V3_ENVIRONMENTS).
TASKS: dict[str, str] = {
    "assembly-v3": "pick up the nut and place it onto the peg",
    "basketball-v3": "pick up the ball and dunk it into the basket",
    "bin-picking-v3": "pick up the puck from one bin and place it into the other bin",
    "box-close-v3": "pick up the lid and place it on the box to close it",
    "button-press-topdown-v3": "press the button from the top",
    "button-press-topdown-wall-v3": "press the button from the top, reaching over the wall",
    "button-press-v3": "press the button",
    "button-press-wall-v3": "press the button behind the wall",
    "coffee-button-v3": "push the button on the coffee machine",
    "coffee-pull-v3": "pull the coffee mug away from the coffee machine",
    "coffee-push-v3": "push the coffee mug under the coffee machine",
    "dial-turn-v3": "rotate the dial",
    "disassemble-v3": "pick the nut up off the peg",
    "door-close-v3": "close the door",
    "door-lock-v3": "lock the door by rotating the lock clockwise",
    "door-open-v3": "open the door",
    "door-unlock-v3": "unlock the door by rotating the lock counter-clockwise",
    "hand-insert-v3": "insert the gripper into the hole",
    "drawer-close-v3": "push the drawer closed",
    "drawer-open-v3": "pull the drawer open",
    "faucet-open-v3": "rotate the faucet counter-clockwise to open it",
    "faucet-close-v3": "rotate the faucet clockwise to close it",
    "hammer-v3": "pick up the hammer and hammer the nail into the wall",
    "handle-press-side-v3": "press the handle down from the side",
    "handle-press-v3": "press the handle down",
    "handle-pull-side-v3": "pull the handle up from the side",
    "handle-pull-v3": "pull the handle up",
    "lever-pull-v3": "pull the lever up",
    "pick-place-wall-v3": "pick up the puck and place it at the goal behind the wall",
    "pick-out-of-hole-v3": "pick up the puck out of the hole",
    "pick-place-v3": "pick up the puck and place it at the goal",
    "plate-slide-v3": "slide the plate into the cabinet",
    "plate-slide-side-v3": "slide the plate into the cabinet from the side",
    "plate-slide-back-v3": "slide the plate out of the cabinet",
    "plate-slide-back-side-v3": "slide the plate out of the cabinet to the side",
    "peg-insert-side-v3": "insert the peg into the hole from the side",
    "peg-unplug-side-v3": "unplug the peg from the side",
    "soccer-v3": "kick the soccer ball into the goal",
    "stick-push-v3": "grasp the stick and push the box with it",
    "stick-pull-v3": "grasp the stick and pull the box with it",
    "push-v3": "push the puck to the goal",
    "push-wall-v3": "push the puck around the wall to the goal",
    "push-back-v3": "push the puck back to the goal",
    "reach-v3": "reach the goal position with the gripper",
    "reach-wall-v3": "reach the goal position behind the wall",
    "shelf-place-v3": "pick up the puck and place it onto the shelf",
    "sweep-into-v3": "sweep the puck into the hole",
    "sweep-v3": "sweep the puck off the table",
    "window-open-v3": "push the window open",
    "window-close-v3": "push the window closed",
}

# The five tasks of the paper's main comparison (section 4.1).
PAPER_TASKS = (
    "pick-place-v3",
    "pick-out-of-hole-v3",
    "bin-picking-v3",
    "shelf-place-v3",
    "disassemble-v3",
)


def check_task(name: str) -> str:
    """Return ``name`` if it is a known task (exactly: it is recorded in files and keys
    their statistics), else raise BadInput naming the task meant where that is clear: the
    name in lower case without surrounding spaces, or the v3 task of a Meta-World v2 name
    (only the v3 environments are installed); else close matches."""
    if name in TASKS:
        return name
    key = name.strip().lower()
    if key in TASKS:
        raise BadInput(f"unknown Meta-World task {name!r}; did you mean {key}? (task names are "
                       "lower case, without spaces)")
    if key.endswith("-v2") and (v3 := key[:-len("v2")] + "v3") in TASKS:
        raise BadInput(f"unknown Meta-World task {name!r}: Meta-World's v2 environments are "
                       f"not installed, only the v3 ones; did you mean {v3}?")
    # the closest first; looser matches (`stick-pull-v3` for `pick-plac-v3`) only alone
    close = (difflib.get_close_matches(key, TASKS, n=3, cutoff=0.75)
             or difflib.get_close_matches(key, TASKS, n=3))
    hint = f"; did you mean {', '.join(close)}?" if close else "; run `genreward tasks` for the list"
    raise BadInput(f"unknown Meta-World task {name!r}{hint}")


def describe(name: str) -> str:
    """The natural-language description of a task (the default prompt and CLIP text)."""
    return TASKS[check_task(name)]
