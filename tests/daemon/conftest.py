from .standin import systemd

__all__ = ["systemd"]
