"""Report handlers (console, junit, excel, html, history, artifact, signature),
each registered under the ``rotest.result_handlers`` entry point. They build on
rotest_core.result and arrive with the reports work; nothing is here yet."""
