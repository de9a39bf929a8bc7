/**
 * CSV exports: RFC 4180 (CRLF line ends, a header row, a field quoted when it holds a comma,
 * quote, CR or LF, quotes doubled inside).
 *
 * Spreadsheet formula injection: a cell whose text starts with `=`, `+`, `-` or `@` (or a tab or
 * CR, which some spreadsheets skip before reading a formula) is written with a leading `'`, so
 * Excel, LibreOffice and Google Sheets show it as text instead of evaluating it. Function and
 * revision names are tenant-controlled and may legitimately start with those characters; they
 * come out prefixed. The one exception is a cell that is entirely a plain decimal number
 * (`-0.50`, a credit line's amount): no spreadsheet evaluates that as a formula, and prefixing it
 * would turn every negative amount into text.
 */

const FORMULA_START = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^-?[0-9]+(\.[0-9]+)?$/;
const NEEDS_QUOTES = /[",\r\n]/;

export type CsvValue = string | number | bigint | boolean | null | undefined;

export function csvCell(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (FORMULA_START.test(text) && !PLAIN_NUMBER.test(text)) text = `'${text}`;
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvRow(values: readonly CsvValue[]): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}

export function toCsv(header: readonly string[], rows: readonly (readonly CsvValue[])[]): string {
  return csvRow(header) + rows.map(csvRow).join('');
}
