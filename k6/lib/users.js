// The seed's user mix. Regular guests browse and sometimes book; power users
// (travel agents, corporate bookers) book, change and check bills; admins
// (front desk) work the reservation list, housekeeping and settings.
//
// One iteration makes exactly one request: a VU walks its current user's flow
// one step per iteration and keeps the flow state (guest, dates, reservation)
// in VU-global scope. So the arrival rate is the request rate (ops/s), which
// is what the policy's rates mean, and dropped iterations are dropped requests.
import * as api from './routes.js';

const DAY_MS = 24 * 3600 * 1000;
const ROOM_TYPES = ['STD', 'DLX', 'FAM', 'STE'];
const GUESTS = 20000;

const rand = (n) => Math.floor(Math.random() * n);
const chance = (p) => Math.random() < p;
const isoDay = (offsetDays) => new Date(Date.now() + offsetDays * DAY_MS).toISOString().slice(0, 10);
const held = (c) => c.reservation && c.reservation.status !== 'cancelled';

function newContext() {
  const inDays = 1 + rand(180);
  const nights = 1 + rand(7);
  return {
    guestId: `g-${1 + rand(GUESTS)}`,
    roomType: ROOM_TYPES[rand(ROOM_TYPES.length)],
    adults: 1 + rand(2),
    inDays,
    nights,
    checkIn: isoDay(inDays),
    checkOut: isoDay(inDays + nights),
    reservation: null,
  };
}

// A step returns a response, or null when it does not apply (then the next
// step runs in the same iteration). Every flow starts with an unconditional step.
export const USER_TYPES = [
  {
    name: 'regular',
    weight: 70,
    flow: [
      (c) => api.searchAvailability(c),
      (c) => api.listRooms(c),
      (c) => { c.checkOut = isoDay(c.inDays + c.nights + 1); return api.searchAvailability(c); },
      (c) => (chance(0.35) ? api.createReservation(c) : null),
      (c) => (held(c) ? api.getReservation(c) : null),
      (c) => (held(c) && chance(0.5) ? api.getGuest(c) : null),
      (c) => (held(c) && chance(0.1) ? api.cancelReservation(c) : null),
    ],
  },
  {
    name: 'power',
    weight: 25,
    flow: [
      (c) => api.searchAvailability(c),
      (c) => api.createReservation(c),
      (c) => (held(c) ? api.modifyReservation(c, isoDay(c.inDays + c.nights + 2)) : null),
      (c) => (held(c) ? api.getReservation(c) : null),
      (c) => api.getGuest(c),
      (c) => (held(c) ? api.getInvoice(c) : null),
      (c) => api.listReservations(c, true),
      (c) => (held(c) && chance(0.2) ? api.cancelReservation(c) : null),
    ],
  },
  {
    name: 'admin',
    weight: 5,
    flow: [
      (c) => api.listReservations(c, false),
      (c) => (held(c) ? api.getInvoice(c) : null),
      (c) => api.housekeepingTasks(c),
      (c) => api.getSettings(c),
      (c) => (chance(0.2) ? api.updateSettings(2 + rand(4)) : null),
      (c) => (held(c) && chance(0.3) ? api.cancelReservation(c) : null),
    ],
  },
];

const TOTAL_WEIGHT = USER_TYPES.reduce((sum, u) => sum + u.weight, 0);

/** A user type drawn by the mix's weights. */
export function weightedUser() {
  let r = Math.random() * TOTAL_WEIGHT;
  for (const u of USER_TYPES) {
    r -= u.weight;
    if (r < 0) return u;
  }
  return USER_TYPES[USER_TYPES.length - 1];
}

/** User types in turn (smoke: every flow runs, whatever the weights). */
export function roundRobinUser(n) {
  return USER_TYPES[n % USER_TYPES.length];
}

let current = null; // this VU's user: { type, step, ctx }
let started = 0;

/** Make this VU's next request; `pick(n)` chooses the user type when a flow ends. */
export function nextRequest(pick) {
  for (let guard = 0; guard < 64; guard++) {
    if (current === null || current.step >= current.type.flow.length) {
      current = { type: pick(started++), step: 0, ctx: newContext() };
    }
    const res = current.type.flow[current.step++](current.ctx);
    if (res) return { user: current.type.name, res };
  }
  throw new Error('user flows made no request in 64 steps: a flow lacks an unconditional step');
}
