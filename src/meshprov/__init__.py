"""meshprov: declarative provisioning of Kong Mesh control-plane security."""

__version__ = "0.1.0"
