"""Colours and fonts for the widgets' HTML, taken from the front end's own CSS variables."""

from __future__ import annotations

# JupyterLab / Notebook 7 define --jp-*; VS Code defines --vscode-*; the last fallback suits light and dark.
FG = "var(--jp-ui-font-color1,var(--vscode-editor-foreground,inherit))"
FG2 = "var(--jp-ui-font-color2,var(--vscode-descriptionForeground,rgba(127,127,127,.95)))"
BORDER = "var(--jp-border-color2,var(--vscode-panel-border,rgba(127,127,127,.35)))"
TRACK = "var(--jp-layout-color3,rgba(127,127,127,.22))"
ACCENT = "var(--jp-brand-color1,var(--vscode-charts-blue,#1976d2))"
WARN = "var(--jp-warn-color0,var(--vscode-editorWarning-foreground,#e65100))"
ERROR = "var(--jp-error-color1,var(--vscode-errorForeground,#d32f2f))"
OK = "var(--jp-success-color1,var(--vscode-charts-green,#2e7d32))"
FONT = "var(--jp-ui-font-family,var(--vscode-font-family,system-ui,sans-serif))"
MONO = "var(--jp-code-font-family,var(--vscode-editor-font-family,monospace))"
COLOURS = {
    "system": "#8e6cd1",
    "prompt": ACCENT,
    "tools": "#c9a227",
    "frame": "rgba(127,127,127,.55)",
    "other": "rgba(127,127,127,.55)",
}
FILE_COLOURS = ("#26a69a", "#ef8f35", "#d35f8d", "#6d8f3c", "#4b9fd6", "#a1887f")
