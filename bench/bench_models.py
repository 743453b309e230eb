"""The resource model the benchmarks lock (a plugin of their own)."""
from rotest_app.models import ResourceData


class BenchDevice(ResourceData):
    """A device with no fields of its own."""
