"""Where weights come from: the registry, the Hub, sha256 pins, and the config that travels with them."""
