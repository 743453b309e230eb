"""A test file that runs itself: python self_running.py [rotest run options]."""
from rotest_core import TestCase, main


class SelfCase(TestCase):
    TAGS = ["self"]

    def test_passes(self):
        self.success("ran by itself")

    def test_fails(self):
        self.expectEqual(1, 2)


if __name__ == "__main__":
    main()
