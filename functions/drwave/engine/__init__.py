"""The application layer both entry points stand on: the ports bundle and the load -> decide -> save -> publish loop."""
