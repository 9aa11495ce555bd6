"""Plain-torch machinery of the detailer; nothing here imports ComfyUI."""
