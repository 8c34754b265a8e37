"""DexPIE's live view in the browser (Rerun's web viewer): the running graph (`viewer` node,
`viewer:=true`) and recorded episode bags (`dexpie-view`). See README.md, "Live view"."""
