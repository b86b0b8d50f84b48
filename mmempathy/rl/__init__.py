"""``mmempathy.rl``: a Gymnasium environment for learning empathy by interaction (the ``rl`` extra).

Importing this package registers ``mmempathy/EmpathyDialogue-v0`` (see :mod:`mmempathy.rl.env`):

    >>> import gymnasium as gym
    >>> import mmempathy.rl
    >>> env = gym.make("mmempathy/EmpathyDialogue-v0")  # toy dialogues; pass dialogues=<file> for MELD
    >>> envs = gym.make_vec("mmempathy/EmpathyDialogue-v0", num_envs=4)  # vectorised
"""

from __future__ import annotations

import gymnasium as gym

from mmempathy.rl.env import DialogueSet, EmpathyDialogueEnv

ENV_ID = "mmempathy/EmpathyDialogue-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="mmempathy.rl.env:EmpathyDialogueEnv")

__all__ = ["ENV_ID", "DialogueSet", "EmpathyDialogueEnv"]
