"""The simulated AWS that moto lacks: DRS and SSM command simulators, and the environment file that configures them."""
