"""Package data: the shipped pretrained weights (dsdc_mnist.pt) and how they were made (dsdc_mnist.json)."""
