#!/usr/bin/env node
// Headless Chromium plays the <video> of a page served by our server and
// seeks to the middle of it (tests/browser.rs runs this).
//
//   node video.js BASE_URL PAGE_PATH SCREENSHOT_PATH
//
// Prints one JSON line on stdout:
//   {"duration":..,"seekTarget":..,"seekedTime":..,"currentTime":..,
//    "readyState":..,"error":null|"code N: message",..,"ranges":[..]}
// where seekedTime is currentTime when `seeked` fired, currentTime is read
// once playback has gone on from there (the video is then paused for the
// screenshot) and ranges are the Range headers of the media requests.
// Every response goes to stderr, one line each, with the Range (and
// validators) the network sent and the Content-Range that came back.
// Exits 1 on any failure, including the global timeout, which kills the
// browser.
'use strict';

const { chromium } = require('playwright-core');

const STEP_MS = 20000; // each wait
const GLOBAL_MS = 75000; // everything, browser start to exit

const [baseUrl, pagePath, screenshotPath] = process.argv.slice(2);
if (!baseUrl || !pagePath || !screenshotPath) {
  console.error('usage: node video.js BASE_URL PAGE_PATH SCREENSHOT_PATH');
  process.exit(2);
}

let browser = null;

function log(line) {
  process.stderr.write(`video.js: ${line}\n`);
}

// Leave with `code` whatever state the browser is in: close it if it
// answers within 5 s; playwright-core kills what it launched when this
// process exits anyway.
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

// In the page: wait (bounded) for `what` on the video, failing on its
// `error` event. `start` runs after the listeners are in place.
const pageHelpers = `
window.__videoError = (v) => v.error ? ('code ' + v.error.code + ': ' + (v.error.message || '')) : null;
window.__waitVideo = (what, ms, ready, start) => new Promise((resolve, reject) => {
  const v = document.querySelector('video');
  if (!v) { reject(new Error('no <video> element on the page')); return; }
  let timer;
  const cleanups = [];
  const done = (f, x) => { clearTimeout(timer); cleanups.forEach((c) => c()); f(x); };
  const on = (ev, fn) => { v.addEventListener(ev, fn); cleanups.push(() => v.removeEventListener(ev, fn)); };
  timer = setTimeout(() => done(reject, new Error('timed out after ' + ms + ' ms waiting for ' + what +
      ' (currentTime ' + v.currentTime + ', readyState ' + v.readyState + ', networkState ' +
      v.networkState + ', paused ' + v.paused + ', seeking ' + v.seeking + ', error ' + window.__videoError(v) + ')')), ms);
  on('error', () => done(reject, new Error('video error while waiting for ' + what + ': ' + window.__videoError(v))));
  const check = (how) => { const r = ready(v, how); if (r !== undefined && r !== false) done(resolve, r); };
  ready.events.forEach((ev) => on(ev, () => check(ev)));
  if (start) start(v, check);
  check('initial');
});
`;

async function main() {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout: STEP_MS,
    args: [
      '--no-sandbox',
      '--autoplay-policy=no-user-gesture-required',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-proxy-server',
      '--mute-audio',
    ],
  });
  const page = await browser.newPage({ viewport: { width: 480, height: 360 } });
  page.setDefaultTimeout(STEP_MS);
  page.on('console', (m) => log(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log(`pageerror: ${e.message}`));
  // The Range of each media request as the media stack asked (for the
  // JSON line), and each response with the request headers the network
  // sent (Chromium's HTTP cache may answer part of a media request itself
  // and ask the server for the rest only) on stderr.
  const ranges = [];
  page.on('request', (req) => {
    if (req.resourceType() === 'media') ranges.push(req.headers().range || '-');
  });
  page.on('response', async (res) => {
    const req = res.request();
    let headers = req.headers();
    try {
      headers = await req.allHeaders();
    } catch (_) {
      // Gone with the page; the provisional headers do.
    }
    const h = res.headers();
    log(
      `${req.method()} ${req.url()} (${req.resourceType()}) range=${headers.range || '-'} ` +
        `if-range=${headers['if-range'] || '-'} if-none-match=${headers['if-none-match'] || '-'} ` +
        `-> ${res.status()} ` +
        `content-range=${h['content-range'] || '-'} content-length=${h['content-length'] || '-'}`,
    );
  });
  page.on('requestfailed', (req) => {
    const f = req.failure();
    log(`requestfailed ${req.url()} range=${req.headers().range || '-'} ${f ? f.errorText : ''}`);
  });

  const url = new URL(pagePath, baseUrl).href;
  const resp = await page.goto(url, { waitUntil: 'domcontentloaded' });
  if (!resp || !resp.ok()) throw new Error(`GET ${url}: ${resp ? resp.status() : 'no response'}`);
  await page.evaluate(pageHelpers);
  await page.waitForSelector('video', { state: 'attached' });

  // Metadata (readyState >= HAVE_METADATA), then muted playback.
  const duration = await page.evaluate(async (ms) => {
    const ready = (v) => (v.readyState >= 1 ? v.duration : undefined);
    ready.events = ['loadedmetadata'];
    return window.__waitVideo('loadedmetadata', ms, ready);
  }, STEP_MS);
  if (!(duration > 0 && Number.isFinite(duration))) throw new Error(`bad duration ${duration}`);
  log(`loadedmetadata: duration ${duration}`);

  await page.evaluate(async (ms) => {
    const v = document.querySelector('video');
    v.muted = true;
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`play() not settled after ${ms} ms`)), ms);
    });
    try {
      await Promise.race([v.play(), late]);
    } finally {
      clearTimeout(timer);
    }
  }, STEP_MS);
  log('playing');

  // Seek to the middle; `seeked` must follow.
  const seekTarget = duration / 2;
  const seekedTime = await page.evaluate(
    async ([ms, target]) => {
      let asked = false;
      const ready = (v, how) => (asked && how === 'seeked' ? v.currentTime : undefined);
      ready.events = ['seeked'];
      return window.__waitVideo(`seeked (to ${target})`, ms, ready, (v) => {
        asked = true;
        v.currentTime = target;
      });
    },
    [STEP_MS, seekTarget],
  );
  log(`seeked: currentTime ${seekedTime}`);

  // Then playback goes on from the new position: 0.5 s of media played
  // and, where Chromium has requestVideoFrameCallback, a frame of that
  // time presented; pause there so the screenshot and the numbers describe
  // it. A stalled response after the seek fails here.
  const after = await page.evaluate(
    async ([ms, target, from]) => {
      const v = document.querySelector('video');
      let frameTime = v.requestVideoFrameCallback ? null : 'unsupported';
      const ready = (v, how) => {
        if (v.currentTime < from + 0.5 || v.readyState < 2 || frameTime === null) return undefined;
        return `advanced (${how})`;
      };
      ready.events = ['timeupdate', 'playing', 'canplay'];
      const how = await window.__waitVideo(`playback after the seek (from ${from})`, ms, ready, (v, check) => {
        if (!v.requestVideoFrameCallback) return;
        const cb = (_now, meta) => {
          if (Math.abs(meta.mediaTime - target) < 2) frameTime = meta.mediaTime;
          else v.requestVideoFrameCallback(cb);
          check('frame');
        };
        v.requestVideoFrameCallback(cb);
      });
      v.pause();
      return {
        how,
        frameTime,
        currentTime: v.currentTime,
        readyState: v.readyState,
        networkState: v.networkState,
        error: window.__videoError(v),
        buffered: Array.from({ length: v.buffered.length }, (_, i) => [v.buffered.start(i), v.buffered.end(i)]),
        videoWidth: v.videoWidth,
        videoHeight: v.videoHeight,
      };
    },
    [STEP_MS, seekTarget, seekedTime],
  );
  log(`after the seek: ${JSON.stringify(after)}`);

  await page.screenshot({ path: screenshotPath });
  // Anything that went wrong while the screenshot was taken.
  const error = await page.evaluate(() => window.__videoError(document.querySelector('video')));

  console.log(
    JSON.stringify({
      duration,
      seekTarget,
      seekedTime,
      currentTime: after.currentTime,
      readyState: after.readyState,
      networkState: after.networkState,
      error: error || after.error,
      how: after.how,
      frameTime: after.frameTime,
      videoWidth: after.videoWidth,
      videoHeight: after.videoHeight,
      buffered: after.buffered,
      mediaRequests: ranges.length,
      ranges,
    }),
  );
  if (error || after.error) throw new Error(`video error: ${error || after.error}`);
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
