"""Rotest's "Resource adapter" and run configuration examples, imports
changed only: the adapter chooses the resource class from the run's config
(``-c run_config.json``), which is also ``self.config`` of every test, block
and flow."""
from rotest_core import BaseResource, TestBlock, TestCase, TestFlow
from rotest_core.resources import ResourceRequest


class ResourceA(BaseResource):
    pass


class ResourceB(BaseResource):
    pass


class ResourceAdapter(ResourceRequest):
    def get_type(self, config):
        if config["project"] == "A":
            return ResourceA
        return ResourceB


class AdaptiveTest(TestCase):
    res = ResourceAdapter()

    def test_adapted(self):
        print(f"case got {type(self.res).__name__} for project {self.config.project}")


class ConfigBlock(TestBlock):
    def test_method(self):
        print(f"block sees project {self.config.project}")


class ConfigFlow(TestFlow):
    blocks = [ConfigBlock]

    def test_flow(self):  # pragma: no cover - flows run blocks only
        pass
