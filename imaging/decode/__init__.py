"""Video in: probing and decoding with PyAV (`video`), and the procedural sample video (`sample`)."""
