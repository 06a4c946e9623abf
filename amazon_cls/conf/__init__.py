"""The configs of every command (Hydra), shipped inside the package: `conf/<command>.yaml` and its groups."""
