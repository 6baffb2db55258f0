"""Models: the catalog (data), the hub (lazy loading), and adapters (one module per architecture family)."""

from imagelens.models.spec import HubSource, ModelSpec, PackageSource, Role

__all__ = ["HubSource", "ModelSpec", "PackageSource", "Role"]
