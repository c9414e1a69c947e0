"""Files a scan reads and writes: result sinks (CSV, JSONL, XLSX), the resume
journal, publishing complete outputs, sorting, reading results back, diffs,
metrics and the HTML report page.
"""
