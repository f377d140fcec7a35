"""Graph features: accounts joined through the devices and IPs they share, over days."""
