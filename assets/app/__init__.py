"""Entry points that drive Dagster: the CLI, the demo, the screenshot tool and their helpers."""
