"""The only code of the pack that talks to ComfyUI, split by concern.

* :mod:`.environment`: what ComfyUI offers (sampler and scheduler names, limits, custom node
  folders, other packs' presence, model features) and server hooks.
* :mod:`.inputs`: checks of the pipe inputs a node receives.
* :mod:`.batching`: batch sizes that never depend on free memory (same seed, same output).
* :mod:`.vae`: VAE calls in batches of a fixed size, bf16 encode and decode, out-of-memory retries.
* :mod:`.sampling`: the sampling backend the detail pass of :mod:`...core.enhance` drives.
* :mod:`.controlnet`: ControlNets per SEG through ComfyUI's ControlNet objects.
* :mod:`.progress`: progress bar and cancel for work done frame by frame outside sampling.

ComfyUI is imported lazily, inside functions, so the pack and its node classes import (and
their unit tests run) without ComfyUI; only model work needs it.
"""
