// The printable report's one button: the browser's print dialog (→ "Save as PDF").
document.getElementById("print-report")?.addEventListener("click", () => window.print());
