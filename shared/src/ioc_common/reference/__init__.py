"""Reference data shipped with the platform; administrative units live in ``units``."""
