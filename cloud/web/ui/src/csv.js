// CSV for spreadsheets. A cell that starts with = + - @ (or a tab or a
// carriage return) is run as a formula by Excel, LibreOffice and Google
// Sheets even when it is quoted, so such a cell gets a leading apostrophe
// (OWASP's advice on CSV injection): audit records carry text that anyone
// can choose, such as the email typed into a failed login.
export function csvCell(v) {
  let s = String(v ?? "");
  if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
  return /[",\n\r\t]/.test(s) || s.startsWith("'") ? '"' + s.replace(/"/g, '""') + '"' : s;
}

// csvText joins rows of cells into a CSV document (CRLF line ends).
export function csvText(rows) {
  return rows.map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
}
