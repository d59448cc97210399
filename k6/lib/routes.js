// The API gateway's routes, one function per call. Each request carries a
// `name` tag (method + route template) so metrics group by route, not by id.
import http from 'k6/http';
import { baseUrl, config } from './config.js';
import { expectResponse } from './checks.js';

export const ROUTES = {
  health: 'GET /healthz',
  availability: 'GET /api/v1/availability',
  rooms: 'GET /api/v1/rooms',
  listReservations: 'GET /api/v1/reservations',
  createReservation: 'POST /api/v1/reservations',
  getReservation: 'GET /api/v1/reservations/{id}',
  modifyReservation: 'PATCH /api/v1/reservations/{id}',
  cancelReservation: 'DELETE /api/v1/reservations/{id}',
  guest: 'GET /api/v1/guests/{id}',
  invoice: 'GET /api/v1/billing/invoices/{id}',
  housekeeping: 'GET /api/v1/housekeeping/tasks',
  settings: 'GET /api/v1/settings',
  updateSettings: 'PATCH /api/v1/settings',
};

const JSON_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json' };

function params(route, readBody) {
  const p = { tags: { name: route }, headers: JSON_HEADERS, timeout: config.requestTimeout };
  if (readBody) p.responseType = 'text';
  return p;
}

const hasId = (body) => typeof body.id === 'string' && body.id.length > 0;

export function health() {
  return expectResponse(http.get(`${baseUrl}/healthz`, params(ROUTES.health)), ROUTES.health, 200);
}

export function searchAvailability(c) {
  const q = `check_in=${c.checkIn}&check_out=${c.checkOut}&guests=${c.adults}`;
  const res = http.get(`${baseUrl}/api/v1/availability?${q}`, params(ROUTES.availability));
  expectResponse(res, ROUTES.availability, 200);
  return res;
}

export function listRooms() {
  const res = http.get(`${baseUrl}/api/v1/rooms`, params(ROUTES.rooms));
  expectResponse(res, ROUTES.rooms, 200);
  return res;
}

/** Lists reservations (of the context's guest, or the latest); remembers the first one. */
export function listReservations(c, byGuest) {
  const q = byGuest ? `guest_id=${c.guestId}&limit=20` : 'limit=20';
  const res = http.get(`${baseUrl}/api/v1/reservations?${q}`, params(ROUTES.listReservations, true));
  const ok = expectResponse(res, ROUTES.listReservations, 200, (b) => Array.isArray(b.items));
  const items = ok ? res.json().items : [];
  if (items.length > 0) {
    c.reservation = { id: items[0].id, invoiceId: items[0].invoice_id, status: items[0].status };
  }
  return res;
}

export function createReservation(c) {
  const body = JSON.stringify({
    guest_id: c.guestId, room_type: c.roomType, check_in: c.checkIn, check_out: c.checkOut,
    adults: c.adults,
  });
  const res = http.post(`${baseUrl}/api/v1/reservations`, body, params(ROUTES.createReservation, true));
  if (expectResponse(res, ROUTES.createReservation, 201, hasId)) {
    const r = res.json();
    c.reservation = { id: r.id, invoiceId: r.invoice_id, status: r.status };
  }
  return res;
}

export function getReservation(c) {
  const res = http.get(`${baseUrl}/api/v1/reservations/${c.reservation.id}`, params(ROUTES.getReservation));
  expectResponse(res, ROUTES.getReservation, 200);
  return res;
}

export function modifyReservation(c, checkOut) {
  const body = JSON.stringify({ check_out: checkOut, special_requests: 'late arrival' });
  const res = http.patch(`${baseUrl}/api/v1/reservations/${c.reservation.id}`, body,
    params(ROUTES.modifyReservation));
  expectResponse(res, ROUTES.modifyReservation, 200);
  return res;
}

export function cancelReservation(c) {
  const res = http.del(`${baseUrl}/api/v1/reservations/${c.reservation.id}`, null,
    params(ROUTES.cancelReservation));
  if (expectResponse(res, ROUTES.cancelReservation, 200)) c.reservation.status = 'cancelled';
  return res;
}

export function getGuest(c) {
  const res = http.get(`${baseUrl}/api/v1/guests/${c.guestId}`, params(ROUTES.guest));
  expectResponse(res, ROUTES.guest, 200);
  return res;
}

export function getInvoice(c) {
  const res = http.get(`${baseUrl}/api/v1/billing/invoices/${c.reservation.invoiceId}`,
    params(ROUTES.invoice));
  expectResponse(res, ROUTES.invoice, 200);
  return res;
}

export function housekeepingTasks() {
  const res = http.get(`${baseUrl}/api/v1/housekeeping/tasks?status=pending`, params(ROUTES.housekeeping));
  expectResponse(res, ROUTES.housekeeping, 200);
  return res;
}

export function getSettings() {
  const res = http.get(`${baseUrl}/api/v1/settings`, params(ROUTES.settings));
  expectResponse(res, ROUTES.settings, 200);
  return res;
}

export function updateSettings(overbookingPercent) {
  const body = JSON.stringify({ overbooking_percent: overbookingPercent });
  const res = http.patch(`${baseUrl}/api/v1/settings`, body, params(ROUTES.updateSettings));
  expectResponse(res, ROUTES.updateSettings, 200);
  return res;
}
