"""How a command runs on this machine: the hardware policy that turns every `auto` into a value
(`hardware`), the one decorator every command shares (`command`: Hydra, the project's resolvers,
one-line errors, a clock), the config checks (`schema`), the one Trainer (`trainer`), progress lines
(`progress`), signals and interruption (`signals`). It stands above `data` and `model`, whose
options its resolvers and checks read, and below every stage that runs a Trainer."""
