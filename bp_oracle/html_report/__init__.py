"""The HTML report: one self-contained page per run (`--html FILE` of check, grade and verify).

    page.py        the document: inline CSS, no script, nothing fetched; the verdict banner, tables
    pictures.py    inline SVG: the network marked equation by equation, heatmaps of wrong tensors
    failing_cases.py  a failing case as shown: request, diagram, root cause, a heatmap per wrong tensor
    check_page.py  the page of check and grade (verify's parts: bp_oracle/sweep/verify_page.py)
"""
