"""Observe: the server as the API reports it, and the host through psutil (the GPUs are in
clore_host.gpu)."""
