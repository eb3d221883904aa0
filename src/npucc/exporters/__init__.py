"""Exporters: write npucc graphs in other formats (QDQ ONNX). They may import the format they
write; nothing below them imports them."""
