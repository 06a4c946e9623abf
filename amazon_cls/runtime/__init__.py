"""How a command runs on this machine: the hardware policy that turns every `auto` into a value
(`hardware`), the one decorator every command shares (`command`: Hydra, the project's resolvers,
one-line errors, a clock), signals and interruption (`signals`), and gathering across DDP ranks
(`distributed`)."""
