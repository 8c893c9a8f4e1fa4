// Opens each page people use in Debian's Chromium (Playwright) and scans it with axe-core for
// WCAG 2.2 AA, on a desktop and a phone-sized viewport; fails on any violation. What the pages
// show is made first through the API (a past session whose attendee gets a certificate).
// Run by .ci/pages.sh, which starts the server and sets CASCADE_BASE and CASCADE_KEY.
const { chromium } = require("playwright-core");
const { AxeBuilder } = require("@axe-core/playwright");
const path = require("path");
const fs = require("fs");
const { execFileSync } = require("child_process");
const os = require("os");
const jsQR = require("jsqr");
const { PNG } = require("pngjs");
// The maildir the SMTP server (aiosmtpd) delivers into.
const mailDir = path.join(process.env.CASCADE_MAILDIR, "new");

// The URL in a PDF's QR code: the page rendered by pdftoppm, decoded by jsQR.
function qrUrlOf(pdfPath) {
  const stem = path.join(os.tmpdir(), `cascade-qr-${process.pid}`);
  execFileSync("pdftoppm", ["-png", "-r", "150", "-singlefile", pdfPath, stem]);
  const png = PNG.sync.read(fs.readFileSync(`${stem}.png`));
  const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  if (!code) throw new Error("no QR code found on the certificate");
  return code.data;
}

// A sign-in link the service emailed that has not been used yet (quoted-printable soft breaks
// undone); waits for the mail worker to write it.
const usedLinks = new Set();
async function signInLink(email) {
  for (let i = 0; i < 100; i++) {
    const files = fs.existsSync(mailDir) ? fs.readdirSync(mailDir) : [];
    for (const f of files) {
      const raw = fs.readFileSync(path.join(mailDir, f), "utf8").replace(/=\r?\n/g, "");
      if (raw.includes("X-Cascade-Message: sign_in_link") && raw.toLowerCase().includes(email.toLowerCase())) {
        const m = raw.match(/https?:\/\/[^\s"<]+\/sign-in\/[A-Za-z0-9_-]+/);
        if (m && !usedLinks.has(m[0])) {
          usedLinks.add(m[0]);
          return m[0];
        }
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no sign-in link emailed to ${email}`);
}

const base = process.env.CASCADE_BASE;
// The demo's coordinator (granted the role by the demo loader).
const coordinator = "priya.sharma@wiltshire.example";
// The sessions the journey schedules (desktop first).
const scheduled = [];
// Page weight (the HTML's bytes) and server time (request sent to first byte) of each page.
const metrics = {};
async function measure(page, name) {
  const m = await page.evaluate(() => {
    const n = performance.getEntriesByType("navigation")[0];
    return n ? { bytes: n.encodedBodySize || n.transferSize, server: n.responseStart - n.requestStart } : null;
  });
  if (m) (metrics[name] = metrics[name] || []).push(m);
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
// Moves the server's wall clock (libfaketime reads this file; its cache lasts a second).
async function serverClock(offset) {
  fs.writeFileSync(process.env.CASCADE_FAKETIME, `${offset}\n`);
  await new Promise((r) => setTimeout(r, 2500));
}
async function signInAs(page, email) {
  await page.goto(`${base}/sign-in`);
  await page.fill("#email", email);
  await page.click("main button[type=submit]");
  await page.goto(await signInLink(email));
  await page.click("main button[type=submit]");
}
// The actual figure of one of the dashboard's targets (its table's row: "14 of 600 …").
async function target(page, key) {
  return parseInt(await page.locator(`#table-targets tr[data-key="${key}"] td`).textContent(), 10);
}
// A figure of the dashboard's summary list.
async function figure(page, label) {
  return (await page.locator(`main dt:text-is("${label}") + dd`).textContent()).trim();
}
// Each viewport schedules its own session, a week after the last one's (no clashes).
let round = 0;
function dayFromNow(days) {
  return new Date(Date.now() + (days + 7 * round) * 24 * 3600 * 1000).toISOString().slice(0, 10);
}
const key = process.env.CASCADE_KEY;
const shots = process.env.SHOTS;

async function api(method, url, body) {
  const resp = await fetch(`${base}/api/v1${url}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`${method} ${url}: ${resp.status} ${text}`);
  return JSON.parse(text);
}

async function main() {
  // A champion session held last week, completed with a certificate for one attendee.
  const courses = await api("GET", "/courses?limit=50");
  const course = courses.items.find((c) => c.kind === "champion");
  const people = await api("GET", "/people?limit=1");
  const person = people.items[0];
  const held = new Date(Date.now() - 7 * 24 * 3600 * 1000).toISOString().slice(0, 10);
  await api("POST", "/past-sessions", {
    course_id: course.id,
    sittings: [{ date: held, start: "09:30", end: "16:00" }],
    venue: { name: "Corn Exchange, Devizes" },
    attendees: [{ person_id: person.id, attended_sittings: [1] }],
    issue_certificates: true,
  });
  const certs = await api("GET", `/certificates?person_id=${person.id}`);
  const cert = certs.items[0];
  // A full session whose waitlist the person joins: its one place is held for the voluntary
  // sector, so another member of staff is already waiting (number 1).
  const others = await api("GET", "/people?limit=2");
  const full = await api("POST", "/sessions", {
    course_id: course.id,
    sittings: [{ date: new Date(Date.now() + 28 * 24 * 3600 * 1000).toISOString().slice(0, 10), start: "09:30", end: "12:30" }],
    venue: { name: "Town Hall", address: "Trowbridge" },
    capacity: 1,
  });
  await api("POST", `/sessions/${full.id}/bookings`, { person_id: others.items[1].id });
  // An upcoming session to find and book.
  const soon = new Date(Date.now() + 21 * 24 * 3600 * 1000).toISOString().slice(0, 10);
  const upcoming = await api("POST", "/sessions", {
    course_id: course.id,
    sittings: [{ date: soon, start: "09:30", end: "12:30" }],
    venue: { name: "Corn Exchange", address: "Devizes" },
    capacity: 12,
  });

  // Someone new for the coordinator to book (an accented name found by its plain spelling),
  // from the voluntary sector.
  const orgs = await api("GET", "/organisations?limit=200");
  const voluntary = orgs.items.find((o) => o.sector === "voluntary") || orgs.items[0];
  // One per viewport: a person holds one place per course.
  // Found by a surname typed without its accents.
  const newcomers = [["Zoë Ní Bhriain", "bhriain"], ["Seán Ó Súilleabháin", "suilleabhain"]];
  for (const [name, q] of newcomers) {
    await api("POST", "/people", {
      name, email: `${q}.${Date.now()}@example.org`,
      memberships: [{ organisation_id: voluntary.id }],
    });
  }

  const pages = [
    { name: "certificate check (valid)", url: cert.verify_url, expect: "This certificate is valid" },
    { name: "certificate check (unknown code)", url: `${base}/verify/AAAA-BBBB-CCCC-DDDD-EEEE`, expect: "No certificate has this code" },
  ];
  // Staff sign in through the emailed link, find and book a session, then cancel the place:
  // every page on the way is scanned.
  const journey = [
    { name: "sign in", url: `${base}/sign-in`, expect: "Sign in to see your training",
      then: async (page) => {
        signIn = { started: Date.now(), scanning: 0 };
        await page.fill("#email", person.email);
        await page.click("button[type=submit]");
      } },
    { name: "check your email", expect: "Check your email",
      then: async (page) => { await page.goto(await signInLink(person.email)); } },
    { name: "sign-in link", expect: "Sign in to Cascade",
      then: async (page) => { await page.click("main button[type=submit]"); } },
    { name: "my training", expect: "My training",
      then: async (page) => {
        // The certificate downloads, and its QR code opens the check that says it is valid.
        const [download] = await Promise.all([
          page.waitForEvent("download"),
          page.click("main a[href$='/pdf']"),
        ]);
        const file = path.join(os.tmpdir(), `cascade-cert-${process.pid}.pdf`);
        await download.saveAs(file);
        const url = qrUrlOf(file);
        if (!url.startsWith(`${base}/verify/`)) throw new Error(`the QR code says ${url}`);
        qrUrl = url;
        await page.goto(url);
      } },
    { name: "certificate check from its QR code", expect: "This certificate is valid",
      then: async (page) => { await page.goto(`${base}/my/sessions`); } },
    { name: "find a session", expect: "Find a session",
      then: async (page) => { await page.goto(`${base}/my/sessions/${upcoming.id}`); } },
    { name: "a session", expect: "Places",
      then: async (page) => { await page.click("main button[type=submit]"); } },
    { name: "my training, booked", expect: "Your place is booked",
      then: async (page) => {
        // The row of the place just booked (the demo person holds others too).
        const row = page.locator("main tr", { hasText: "Corn Exchange, Devizes" });
        const [download] = await Promise.all([
          page.waitForEvent("download"),
          row.locator("a[href$='/invite.ics']").click(),
        ]);
        const ics = fs.readFileSync(await download.path(), "utf8");
        if (!ics.includes("METHOD:REQUEST") || !ics.includes(`UID:session-${upcoming.id}-sitting-1@cascade`)) {
          throw new Error(`the invitation is not the session's: ${ics.slice(0, 300)}`);
        }
        await row.locator("a[href$='/cancel']").click();
      } },
    { name: "cancel a place", expect: "Cancel your place",
      then: async (page) => { await page.click("main button[type=submit]"); } },
    { name: "my training, cancelled", expect: "Your place is cancelled",
      then: async (page) => { await page.goto(`${base}/my/sessions/${full.id}`); } },
    { name: "a full session", expect: "Join the waitlist",
      then: async (page) => { await page.click("main button[type=submit]"); } },
    { name: "my training, on the waitlist", expect: "Waitlist: number 2",
      then: async (page) => {
        await page.locator("main tr", { hasText: "Town Hall, Trowbridge" }).locator("a[href$='/cancel']").click();
      } },
    { name: "leave the waitlist", expect: "Leave the waitlist",
      then: async (page) => { await page.click("main button[type=submit]"); await page.goto(`${base}/my/email`); } },
    { name: "email choices", expect: "What we email you",
      then: async (page) => { await page.goto(`${base}/my/calendar`); } },
    { name: "calendar subscription", expect: "Your calendar link",
      then: async (page) => { await page.click("main button[type=submit]"); } },
    { name: "calendar link, shown once", expect: "Here is your calendar link",
      then: async (page) => {
        // The coordinator's turn: sign out, and in again as the demo's coordinator.
        await page.click("header button[type=submit]");
        await page.goto(`${base}/sign-in`);
        await page.fill("#email", coordinator);
        await page.click("main button[type=submit]");
        await page.goto(await signInLink(coordinator));
        await page.click("main button[type=submit]");
        await page.goto(`${base}/console`);
      } },
    { name: "dashboard", expect: "Progress against the year's targets",
      then: async (page) => {
        if ((await page.locator("main svg[role=img]").count()) < 2) throw new Error("no charts");
        await page.goto(`${base}/console/sessions`);
      } },
    { name: "sessions", expect: "Schedule a session",
      then: async (page) => { await page.click("main a.button"); } },
    { name: "schedule a session", expect: "Schedule a session",
      then: async (page) => {
        await page.selectOption("#course", { label: "Five to Thrive champion training" });
        await page.fill("#date1", dayFromNow(40));
        await page.fill("#start1", "09:30");
        await page.fill("#end1", "12:30");
        await page.fill("#date2", dayFromNow(47));
        await page.fill("#start2", "09:30");
        await page.fill("#end2", "12:30");
        await page.fill("#venue", "Corn Exchange");
        await page.fill("#address", "Devizes");
        await page.fill("#capacity", "12");
        await page.click("button[value=check]");
      } },
    { name: "check the session", expect: "2 held for the voluntary sector",
      then: async (page) => { await page.click("button[value=save]"); } },
    { name: "a session's bookings", expect: "The session is scheduled",
      then: async (page) => {
        scheduled.push(new URL(page.url()).pathname.split("/").pop());
        await page.fill("#q", newcomers[round / 2][1]);
        await page.click("main form.filters button[type=submit]");
      } },
    { name: "book someone", expect: "Bhriain", alsoExpect: "Súilleabháin",
      then: async (page) => {
        await page.locator("main ul.list li", { hasText: newcomers[round / 2][0] }).locator("button").click();
      } },
    { name: "booked by the coordinator", expect: "2 for the voluntary sector: 1 taken, 1 free",
      then: async (page) => { await page.click("main a[href$='/register']"); } },
    { name: "the register", expect: "Marks open when the sitting starts",
      then: async (page) => { await page.goto(`${base}/console/people?q=rob`); } },
    { name: "people", expect: "Siân Roberts",
      then: async (page) => { await page.locator("main table a").first().click(); } },
    { name: "a person's training", expect: "Certificates" },
  ];
  let qrUrl = null;
  // From submitting the email to "My training", without the time the axe scans took.
  let signIn = null;
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  let failures = 0;
  try {
    for (const viewport of [{ width: 1280, height: 900, label: "desktop" }, { width: 390, height: 844, label: "phone" }]) {
      const context = await browser.newContext({ viewport, acceptDownloads: true });
      const page = await context.newPage();
      for (const p of pages.concat(journey)) {
        const started = Date.now();
        if (p.url) await page.goto(p.url);
        await page.waitForLoadState("load");
        const text = await page.textContent("main");
        if (!text.includes(p.expect) && !(p.alsoExpect && text.includes(p.alsoExpect))) {
          console.log(`FAIL ${p.name} (${viewport.label}): "${p.expect}" not shown`);
          failures++;
        }
        await measure(page, p.name);
        const scanStarted = Date.now();
        const results = await new AxeBuilder({ page })
          .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"])
          .analyze();
        const ms = Date.now() - started;
        if (signIn) signIn.scanning += Date.now() - scanStarted;
        console.log(`${p.name} (${viewport.label}): ${results.violations.length} axe violations, ` +
                    `${results.passes.length} rules passed, ${ms} ms`);
        for (const v of results.violations) {
          console.log(`  ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
        }
        failures += results.violations.length;
        if (shots) {
          const file = `${p.name.replace(/[^a-z]+/gi, "-")}-${viewport.label}.png`;
          await page.screenshot({ path: path.join(shots, file), fullPage: true });
        }
        if (p.name === "my training" && signIn) {
          const took = Date.now() - signIn.started - signIn.scanning;
          console.log(`sign-in to My training (${viewport.label}): ${took} ms (email sent, link read from the SMTP server, Continue), scans excluded`);
          signIn = null;
        }
        if (p.then) await p.then(page);
      }
      await context.close();
      round += 2;
    }
    failures += await atTheVenue(browser);
  } finally {
    await browser.close();
  }
  console.log("page weight and server time (median over the browser test):");
  console.log("  page | HTML bytes | server ms | views");
  for (const [name, ms] of Object.entries(metrics)) {
    console.log(`  ${name} | ${median(ms.map((m) => m.bytes))} | ${median(ms.map((m) => m.server)).toFixed(1)} | ${ms.length}`);
  }
  const css = await fetch(`${base}/assets/cascade.css`).then((r) => r.text());
  console.log(`  (the stylesheet, once per visit: ${Buffer.byteLength(css)} bytes)`);
  if (failures > 0) {
    console.log(`${failures} failure(s)`);
    process.exit(1);
  }
  console.log("pages: every page shown as expected, 0 axe violations at WCAG 2.2 AA");
}

// The day of the session: the server's clock moves past both sittings; a coordinator (granted
// the role through the API) takes the register on a phone, completes the session and sees the
// dashboard change; a trainer records a cascade session and the reach changes; a partner lead
// sees only their own staff. Every page is scanned like the others.
async function atTheVenue(browser) {
  let failures = 0;
  const phone = { width: 390, height: 844 };
  const session = await api("GET", `/sessions/${scheduled[0]}`);
  const start = new Date(session.starts_at);
  const year = start.getUTCMonth() >= 3 ? start.getUTCFullYear() : start.getUTCFullYear() - 1;
  const dashboardOf = (programme, y = year) => `${base}/console?programme=${programme}&year=${y}`;
  const check = async (page, name, expect) => {
    await page.waitForLoadState("load");
    await measure(page, name);
    const text = await page.textContent("main");
    if (!text.includes(expect)) {
      console.log(`FAIL ${name} (phone): "${expect}" not shown`);
      failures++;
    }
    const results = await new AxeBuilder({ page })
      .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]).analyze();
    console.log(`${name} (phone): ${results.violations.length} axe violations, ${results.passes.length} rules passed`);
    for (const v of results.violations) console.log(`  ${v.id}: ${v.help}`);
    failures += results.violations.length;
    if (shots) await page.screenshot({ path: path.join(shots, `${name.replace(/[^a-z]+/gi, "-")}-phone.png`), fullPage: true });
  };
  // Two more people booked from the session page (the journey booked a voluntary one).
  const orgs = await api("GET", "/organisations?limit=200");
  const council = orgs.items.find((o) => o.sector === "council") || orgs.items[0];
  const coordinatorEmail = `ffion.${Date.now()}@example.org`;
  const ffion = await api("POST", "/people", { name: "Ffion Evans", email: coordinatorEmail,
    memberships: [{ organisation_id: council.id }] });
  await api("PUT", `/people/${ffion.id}/sign-in-role`, { role: "coordinator" });
  for (const name of ["Rhiannon Price", "Dafydd Morgan"]) {
    await api("POST", "/people", { name, email: `${name.split(" ")[0].toLowerCase()}.${Date.now()}@example.org`,
      memberships: [{ organisation_id: council.id }] });
  }
  const context = await browser.newContext({ viewport: phone, acceptDownloads: true });
  const page = await context.newPage();
  await signInAs(page, coordinatorEmail);
  for (const name of ["Rhiannon Price", "Dafydd Morgan"]) {
    await page.goto(`${base}/console/sessions/${scheduled[0]}?q=${name.split(" ")[0].toLowerCase()}`);
    await page.locator("main ul.list li", { hasText: name }).locator("button").click();
    await page.waitForLoadState("load");
  }
  await check(page, "three booked, one voluntary", "3 booked of 12");

  // The day after the second sitting.
  const days = Math.ceil((new Date(session.ends_at) - Date.now()) / 86400000) + 1;
  await serverClock(`+${days}d`);
  await signInAs(page, coordinatorEmail);
  await page.goto(dashboardOf(session.programme_id));
  const deliveredBefore = Number(await figure(page, "Sessions delivered"));
  const championsBefore = await target(page, "champions_trained");
  await page.goto(`${base}/console/sessions/${scheduled[0]}/register`);
  await check(page, "the register on a phone", "Sitting 2");
  // One tap per person per sitting.
  for (let i = 0; i < 6; i++) {
    await page.locator("main button[value=yes]").nth(i).click();
    await page.waitForLoadState("load");
  }
  await check(page, "the register, everyone present", "Complete the session");
  await page.click("main a[href$='/complete']");
  await check(page, "complete the session", "Complete the session?");
  await page.click("main button[type=submit]");
  await check(page, "completed, certificates issued", "certificates are issued");
  const certs = await api("GET", `/certificates?session_id=${scheduled[0]}`);
  if (certs.items.length !== 3) { console.log(`FAIL ${certs.items.length} certificates, not 3`); failures++; }
  await page.goto(dashboardOf(session.programme_id));
  await check(page, "dashboard after the session", "Sessions delivered");
  const deliveredAfter = Number(await figure(page, "Sessions delivered"));
  const championsAfter = await target(page, "champions_trained");
  console.log(`dashboard: sessions delivered ${deliveredBefore} → ${deliveredAfter}, champions trained ${championsBefore} → ${championsAfter}`);
  if (deliveredAfter !== deliveredBefore + 1 || championsAfter !== championsBefore + 3) {
    console.log("FAIL the dashboard did not count the session and its three champions");
    failures++;
  }

  // A trainer records a cascade session; the reach on the dashboard rises by its attendees.
  const trainer = await browser.newContext({ viewport: phone });
  const tpage = await trainer.newPage();
  await signInAs(tpage, "zoe.ashworth@nhs.example");
  await tpage.goto(`${base}/my/cascades/new`);
  await check(tpage, "record a cascade session", "Record a cascade session");
  await tpage.selectOption("#course", { index: 1 });
  const course = await api("GET", `/courses/${await tpage.inputValue("#course")}`);
  // The programme year of the day it is delivered (the server's today).
  const served = new Date(Date.now() + days * 86400000);
  const cascadeYear = served.getUTCMonth() >= 3 ? served.getUTCFullYear() : served.getUTCFullYear() - 1;
  await page.goto(dashboardOf(course.programme_id, cascadeYear));
  const reachBefore = Number(await figure(page, "People reached by the cascade"));
  await tpage.fill("#attendees", "sian.roberts@wiltshire.example");
  await tpage.selectOption("#org1", { index: 1 });
  await tpage.fill("#count1", "6");
  await tpage.click("main button[type=submit]");
  await check(tpage, "cascade recorded", "Your cascade session is recorded");
  await page.goto(dashboardOf(course.programme_id, cascadeYear));
  await check(page, "dashboard after the cascade", "People reached by the cascade");
  const reachAfter = Number(await figure(page, "People reached by the cascade"));
  console.log(`dashboard: people reached ${reachBefore} → ${reachAfter}`);
  if (reachAfter !== reachBefore + 7) {
    console.log(`FAIL people reached ${reachBefore} → ${reachAfter}`);
    failures++;
  }
  await page.goto(`${base}/console/trainers?programme=${course.programme_id}`);
  await check(page, "trainer pipeline", "Zoë Ashworth");
  await page.locator("main a[href*='/sign-off']").first().click();
  await check(page, "sign off a step", "Sign off a step");
  await trainer.close();

  // A partner lead sees only their own organisation's staff.
  const lukasz = (await api("GET", "/people?email=lukasz.nowak@nhs.example")).items[0];
  await api("PUT", `/people/${lukasz.id}/sign-in-role`, { role: "partner_lead" });
  const lead = await browser.newContext({ viewport: phone });
  const lpage = await lead.newPage();
  await signInAs(lpage, "lukasz.nowak@nhs.example");
  await lpage.goto(`${base}/console/people`);
  await check(lpage, "a partner lead's staff", "Zoë Ashworth");
  if ((await lpage.textContent("main")).includes("Siân Roberts")) {
    console.log("FAIL a partner lead sees another partner's staff");
    failures++;
  }
  await lead.close();
  await context.close();
  await serverClock("+0d");
  return failures;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
