"""TODO"""


def init_app(app):
    pass
