"""blendgym's environments, Blender side. Installed as ``blendgym_envs``; runs inside Blender only."""
