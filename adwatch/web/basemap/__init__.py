"""The offline basemap the web UI's map is drawn on (vendored GeoJSON; see PROVENANCE.md)."""
