#!/usr/bin/env node
// Headless Chromium on the directory listings, uploads and text files our
// server serves (tests/browser.rs runs this, one scenario per run).
//
//   node listing.js SCENARIO CONFIG_JSON
//
// SCENARIO is navigate, sort, upload, schemes or charset; CONFIG_JSON
// holds the servers' base URLs, what the page must show (the Rust test
// made the files, so it says what they hold) and `shots`, the path prefix
// of the screenshots (PREFIX-STEP.png). Every check is made here, on what
// the browser shows; a failed one throws with what was seen. Prints
// `screenshot PATH` per screenshot and a last line `ok SCENARIO` on
// stdout; every check passed and every response on stderr. Exits 1 on any
// failure, including the global timeout, which kills the browser.
'use strict';

const { chromium } = require('playwright-core');

const STEP_MS = 15000; // each wait
const GLOBAL_MS = 50000; // everything, browser start to exit

const [scenario, configJson] = process.argv.slice(2);
if (!scenario || !configJson) {
  console.error('usage: node listing.js SCENARIO CONFIG_JSON');
  process.exit(2);
}
const cfg = JSON.parse(configJson);

let browser = null;

function log(line) {
  process.stderr.write(`listing.js: ${line}\n`);
}

async function finish(code) {
  if (browser) {
    const b = browser;
    browser = null;
    await Promise.race([b.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
  }
  process.exit(code);
}

const globalTimer = setTimeout(() => {
  log(`FAIL: global timeout of ${GLOBAL_MS} ms`);
  finish(1);
}, GLOBAL_MS);

function check(ok, what, seen) {
  if (!ok) throw new Error(`${what}; seen: ${JSON.stringify(seen)}`);
  log(`ok: ${what}`);
}

function checkEqual(seen, expected, what) {
  check(JSON.stringify(seen) === JSON.stringify(expected), `${what} is ${JSON.stringify(expected)}`, seen);
}

async function newPage() {
  const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
  page.setDefaultTimeout(STEP_MS);
  page.on('console', (m) => log(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log(`pageerror: ${e.message}`));
  page.on('response', (res) => {
    const req = res.request();
    const h = res.headers();
    log(
      `${req.method()} ${req.url()} -> ${res.status()} content-type=${h['content-type'] || '-'}` +
        (h.location ? ` location=${h.location}` : ''),
    );
  });
  page.on('requestfailed', (req) => log(`requestfailed ${req.method()} ${req.url()} ${req.failure()?.errorText}`));
  return page;
}

async function shot(page, step) {
  const path = `${cfg.shots}-${step}.png`;
  const png = await page.screenshot({ path, fullPage: true });
  console.log(`screenshot ${path}`);
  return png;
}

const heading = (page) => page.locator('h1').innerText();

// The text of a text/plain page: Chromium shows it in a <pre>.
const shownText = (page) => page.evaluate(() => document.body.innerText);

// Click a link by its exact text and wait for the page it leads to.
async function follow(page, text, url) {
  const link = page.getByRole('link', { name: text, exact: true });
  check((await link.count()) === 1, `one link "${text}" on ${page.url()}`, await link.count());
  await link.click();
  await page.waitForURL(url, { waitUntil: 'load' });
  checkEqual(page.url(), url, `the URL after clicking "${text}"`);
}

// The rich listing's rows: name cell text and the exact size from the
// size cell's title ("6 bytes", "1 byte"; null for directories).
const tableRows = (page) =>
  page.$$eval('tbody tr', (trs) =>
    trs.map((tr) => {
      const size = tr.querySelector('td.size');
      const title = size ? size.getAttribute('title') : null;
      const m = title ? /^(\d+) bytes?$/.exec(title) : null;
      return { name: tr.querySelector('td.name').innerText, bytes: m ? Number(m[1]) : title };
    }),
  );

// 1. Into a subdirectory, a file there, back, up to the root, and a file
// with a UTF-8 name.
async function navigate() {
  const base = cfg.base;
  const page = await newPage();
  const resp = await page.goto(base);
  checkEqual(resp.status(), 200, 'the status of /');
  checkEqual(await heading(page), 'Directory listing for /', 'the heading of /');
  check((await page.getByRole('link', { name: '../', exact: true }).count()) === 0, 'no ../ link at /', null);
  const cafe = page.getByRole('link', { name: cfg.utf8Name, exact: true });
  checkEqual(await cafe.getAttribute('href'), cfg.utf8Href, `the href of ${cfg.utf8Name}`);
  await shot(page, 'root');

  await follow(page, `${cfg.sub}/`, `${base}${cfg.sub}/`);
  checkEqual(await heading(page), `Directory listing for /${cfg.sub}/`, 'the heading of the subdirectory');
  await shot(page, 'subdirectory');

  await follow(page, cfg.subFile, `${base}${cfg.sub}/${cfg.subFile}`);
  checkEqual(await shownText(page), cfg.subFileText, `the text shown for ${cfg.subFile}`);
  await shot(page, 'file');

  await page.goBack({ waitUntil: 'load' });
  checkEqual(page.url(), `${base}${cfg.sub}/`, 'the URL after history back');
  checkEqual(await heading(page), `Directory listing for /${cfg.sub}/`, 'the heading after history back');

  await follow(page, '../', base);
  checkEqual(await heading(page), 'Directory listing for /', 'the heading after ../');
  await shot(page, 'parent');

  await follow(page, cfg.utf8Name, `${base}${cfg.utf8Href}`);
  checkEqual(await shownText(page), cfg.utf8Text, `the text shown for ${cfg.utf8Name}`);
  await shot(page, 'utf8-name');
}

// 2. The Size header sorts ascending, then descending; directories first.
async function sort() {
  const page = await newPage();
  await page.goto(cfg.base);
  const orders = [
    ['asc', cfg.ascending],
    ['desc', cfg.ascending.slice().reverse()],
  ];
  for (const [order, files] of orders) {
    await follow(page, 'Size', `${cfg.base}?sort=size&order=${order}`);
    const rows = await tableRows(page);
    log(`rows (${order}): ${JSON.stringify(rows)}`);
    const firstFile = rows.findIndex((r) => !r.name.endsWith('/'));
    const dirs = rows.slice(0, firstFile < 0 ? rows.length : firstFile);
    const rest = rows.slice(dirs.length);
    checkEqual(dirs.map((r) => r.name).sort(), cfg.dirs.slice().sort(), `the directories first (${order})`);
    check(
      rest.every((r) => !r.name.endsWith('/')),
      `no directory after the files (${order})`,
      rows,
    );
    checkEqual(
      rest.map((r) => r.name),
      files,
      `the files by size, ${order}`,
    );
    const sizes = rest.map((r) => r.bytes);
    check(
      sizes.every((s, i) => typeof s === 'number' && (i === 0 || (order === 'asc' ? sizes[i - 1] < s : sizes[i - 1] > s))),
      `the sizes in the cells' titles strictly ${order === 'asc' ? 'ascending' : 'descending'}`,
      sizes,
    );
    checkEqual(
      await page.locator('th[aria-sort]').innerText().then((t) => t.startsWith('Size')),
      true,
      `the Size column marked as the sort column (${order})`,
    );
    await shot(page, `size-${order}`);
  }
}

// 3. The upload form: two files chosen, submitted, back on the listing.
async function upload() {
  for (const target of cfg.targets) {
    const page = await newPage();
    const posts = [];
    page.on('response', (res) => {
      if (res.request().method() === 'POST') posts.push({ status: res.status(), location: res.headers().location });
    });
    await page.goto(target.url);
    const input = page.locator('form input[type=file][name=file]');
    checkEqual(await input.count(), 1, `the upload form's file input on ${target.url}`);
    checkEqual(await page.locator('form').getAttribute('enctype'), 'multipart/form-data', "the form's enctype");
    await input.setInputFiles(cfg.files);
    checkEqual(
      await input.evaluate((i) => Array.from(i.files, (f) => f.name)),
      cfg.names,
      'the files chosen',
    );
    await shot(page, `${target.name}-chosen`);

    // The form posts to its own URL; the 303 brings a GET of the listing.
    const landed = page.waitForResponse((r) => r.request().method() === 'GET' && r.url() === target.url);
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    const listing = await landed;
    await page.waitForLoadState('load');
    checkEqual(posts, [{ status: 303, location: target.path }], 'the POST replies (status, Location)');
    checkEqual(listing.status(), 200, 'the status of the listing after the upload');
    checkEqual(page.url(), target.url, 'the URL after the upload');
    checkEqual(await heading(page), `Directory listing for ${target.path}`, 'the heading after the upload');
    for (const name of cfg.names) {
      checkEqual(
        await page.getByRole('link', { name, exact: true }).count(),
        1,
        `a link "${name}" in the listing after the upload`,
      );
    }
    await shot(page, `${target.name}-uploaded`);
    await page.close();
  }
}

// Relative luminance and contrast ratio (WCAG 2).
function parseRgb(css) {
  const m = /^rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)$/.exec(css);
  if (!m) throw new Error(`cannot parse colour ${css}`);
  return { r: +m[1], g: +m[2], b: +m[3], a: m[4] === undefined ? 1 : +m[4] };
}
function luminance({ r, g, b }) {
  const lin = (c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}
function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// The colours a page is drawn in: body text, first link, and the
// background: the first opaque background of body or html, else the
// canvas, whose colour follows the root's used colour scheme (the
// `Canvas` system colour resolved on the root).
const pageColours = (page) =>
  page.evaluate(() => {
    const cs = (e) => getComputedStyle(e);
    let background = null;
    for (const e of [document.body, document.documentElement]) {
      const bg = cs(e).backgroundColor;
      if (!/^rgba\(.*, 0\)$/.test(bg) && bg !== 'transparent') {
        background = bg;
        break;
      }
    }
    let canvas = null;
    if (!background) {
      const probe = document.createElement('div');
      probe.style.backgroundColor = 'Canvas';
      document.documentElement.appendChild(probe);
      canvas = cs(probe).backgroundColor;
      probe.remove();
    }
    const link = document.querySelector('a');
    return {
      text: cs(document.body).color,
      link: link ? cs(link).color : null,
      background: background || canvas,
      colorScheme: cs(document.documentElement).colorScheme,
    };
  });

// What the screenshot shows: the pixel at (2, 2) (page margin: the
// background) and how many pixels are drawn in (near) `text`. Decoded by
// the browser itself on a blank page.
async function pixels(decoder, png, text) {
  return decoder.evaluate(
    async ([b64, t]) => {
      const blob = await (await fetch(`data:image/png;base64,${b64}`)).blob();
      const bmp = await createImageBitmap(blob);
      const c = new OffscreenCanvas(bmp.width, bmp.height);
      const ctx = c.getContext('2d');
      ctx.drawImage(bmp, 0, 0);
      const d = ctx.getImageData(0, 0, bmp.width, bmp.height).data;
      const at = (x, y) => {
        const i = (y * bmp.width + x) * 4;
        return { r: d[i], g: d[i + 1], b: d[i + 2] };
      };
      let textPixels = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (Math.abs(d[i] - t.r) + Math.abs(d[i + 1] - t.g) + Math.abs(d[i + 2] - t.b) <= 30) textPixels++;
      }
      return { corner: at(2, 2), textPixels };
    },
    [png.toString('base64'), text],
  );
}

// 4. Listings and an error page in light and dark colour schemes.
async function schemes() {
  const page = await newPage();
  const decoder = await browser.newPage();
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    checkEqual(
      await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches),
      scheme === 'dark',
      `(prefers-color-scheme: dark) matching in the ${scheme} scheme`,
    );
    for (const p of cfg.pages) {
      const what = `${p.name} (${scheme})`;
      const resp = await page.goto(p.url);
      checkEqual(resp.status(), p.status, `the status of ${what}`);
      const png = await shot(page, `${p.name}-${scheme}`);
      const colours = await pageColours(page);
      log(`${what}: ${JSON.stringify(colours)}`);
      const text = parseRgb(colours.text);
      const bg = parseRgb(colours.background);
      check(text.a === 1 && bg.a === 1, `${what}: opaque text and background`, colours);
      const ratio = contrast(text, bg);
      check(ratio >= 7, `${what}: body text contrast ${ratio.toFixed(2)} >= 7 (WCAG AAA)`, colours);
      if (colours.link) {
        const linkRatio = contrast(parseRgb(colours.link), bg);
        check(linkRatio >= 4.5, `${what}: link contrast ${linkRatio.toFixed(2)} >= 4.5 (WCAG AA)`, colours);
      }
      // The screenshot agrees: its margin is the background computed, and
      // text is drawn in the text colour.
      const seen = await pixels(decoder, png, text);
      const off = Math.abs(seen.corner.r - bg.r) + Math.abs(seen.corner.g - bg.g) + Math.abs(seen.corner.b - bg.b);
      check(off <= 12, `${what}: the screenshot's background is the computed ${colours.background}`, seen);
      check(seen.textPixels >= 100, `${what}: text drawn in ${colours.text} in the screenshot`, seen);
      const lum = luminance(bg);
      if (p.followsScheme) {
        checkEqual(colours.colorScheme, 'light dark', `${what}: the root's color-scheme`);
        check(
          scheme === 'dark' ? lum < 0.1 : lum > 0.8,
          `${what}: the background is ${scheme} (luminance ${lum.toFixed(3)})`,
          colours,
        );
      } else {
        // Declares no colour scheme: the default black on white either way.
        check(lum > 0.8, `${what}: the background stays light (luminance ${lum.toFixed(3)})`, colours);
      }
    }
  }
}

// 5. A UTF-8 text file as Chromium decodes it, per server.
async function charset() {
  const page = await newPage();
  const shownBy = {};
  for (const s of cfg.servers) {
    const resp = await page.goto(s.url);
    checkEqual(resp.status(), 200, `the status of ${s.name}`);
    checkEqual(resp.headers()['content-type'], s.contentType, `the Content-Type from ${s.name}`);
    const shown = await shownText(page);
    const decodedAs = await page.evaluate(() => document.characterSet);
    log(`${s.name}: shown ${JSON.stringify(shown)}, document.characterSet ${decodedAs}`);
    if (s.same) {
      checkEqual(shown, cfg.text, `the text shown from ${s.name}`);
      checkEqual(decodedAs, 'UTF-8', `the encoding Chromium decoded ${s.name} with`);
    } else {
      // Chromium does not guess UTF-8 for unlabelled http text: it takes
      // its locale's default (windows-1252 in en-US).
      check(shown !== cfg.text, `the text shown from ${s.name} is not the UTF-8 text (mojibake)`, shown);
      check(decodedAs !== 'UTF-8', `${s.name} not decoded as UTF-8`, decodedAs);
    }
    if (s.sameAs) {
      checkEqual(shown, shownBy[s.sameAs], `the text shown from ${s.name} as from ${s.sameAs}`);
    }
    shownBy[s.name] = shown;
    await shot(page, s.name);
  }
}

const scenarios = { navigate, sort, upload, schemes, charset };

async function main() {
  const run = scenarios[scenario];
  if (!run) throw new Error(`unknown scenario ${scenario}`);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout: STEP_MS,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-proxy-server'],
  });
  await run();
  console.log(`ok ${scenario}`);
}

main().then(
  () => {
    clearTimeout(globalTimer);
    return finish(0);
  },
  (e) => {
    log(`FAIL: ${e && e.stack ? e.stack : e}`);
    clearTimeout(globalTimer);
    return finish(1);
  },
);
