"""napari front end: widgets, layer wiring and sample data.

The only place in the package that may import napari, Qt, magicgui or vispy
(``tests/test_layering.py`` checks it). Everything here maps napari layers and
events to calls on the GUI-free core (``promptseg.backends``, ``promptseg.session``).
"""
