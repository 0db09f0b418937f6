"""What every stage shares: data loading and splits, target networks, flat parameter vectors,
per-class losses, parameters written on the command line, seeding and devices."""
