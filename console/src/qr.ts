// QR codes drawn here, in the page: qrcode-generator (bundled) computes the
// modules, and they become one SVG path. Nothing leaves the browser (a TOTP
// secret must never go to an outside QR service), and no inline style or
// markup string is involved (the CSP allows neither).

import qrcode from "qrcode-generator";

import { s } from "./dom.js";

/** Modules of quiet zone around the code (the standard asks for 4). */
const QUIET = 4;

/** An `<svg role="img">` of `text` as a QR code, named `label`. */
export function qrSvg(text: string, label: string): SVGSVGElement {
  const code = qrcode(0, "M"); // 0: the smallest version that fits
  code.addData(text, "Byte");
  code.make();
  const count = code.getModuleCount();
  const size = count + 2 * QUIET;
  let d = "";
  for (let row = 0; row < count; row += 1) {
    for (let col = 0; col < count; col += 1) {
      if (code.isDark(row, col)) d += `M${col + QUIET} ${row + QUIET}h1v1h-1z`;
    }
  }
  return s(
    "svg",
    {
      class: "qr",
      viewBox: `0 0 ${size} ${size}`,
      role: "img",
      "aria-label": label,
      "shape-rendering": "crispEdges",
    },
    s("rect", { class: "qr-light", x: 0, y: 0, width: size, height: size }),
    s("path", { class: "qr-dark", d }),
  );
}
