import type { Projection } from '../es/projections.js';
import type { Doc, Filter } from '../es/readStore.js';
import { invitationEventTypes, parseInvitationEvent } from '../events/invitations.js';
import type { Role } from '../events/users.js';

export const INVITATIONS = 'invitations';

export type InvitationDoc = Doc & {
  id: string;
  /** Sealed with the invitation's data key; opened only to show the URL of an active invitation. */
  tokenEncrypted: string;
  tokenPrefix: string;
  label: string | null;
  role: Role;
  createdBy: string;
  kinId: string | null;
  expiresAt: string;
  usedAt: string | null;
  usedBy: string | null;
  createdAt: string;
};

/** Unused and not expired at `now`. */
export const activeInvitationsFilter = (now: Date): Filter => ({ usedAt: null, expiresAt: { $gt: now.toISOString() } });

export const invitationsProjection: Projection = {
  name: 'invitations',
  version: 1,
  handles: invitationEventTypes,
  collections: [INVITATIONS],
  async setup(store) {
    await store.collection(INVITATIONS).ensureIndex({ fields: { createdAt: -1 } });
  },
  async apply(recorded, store) {
    const invitations = store.collection<InvitationDoc>(INVITATIONS);
    const event = parseInvitationEvent(recorded);
    switch (event.type) {
      case 'InvitationCreated': {
        const { invitationId, ...fields } = event.data;
        await invitations.replace({ id: invitationId, ...fields, usedAt: null, usedBy: null });
        return;
      }
      case 'InvitationConsumed':
        await invitations.update({ id: event.data.invitationId }, { $set: { usedAt: event.data.usedAt, usedBy: event.data.userId } });
        return;
      case 'InvitationRevoked':
        await invitations.delete({ id: event.data.invitationId });
        return;
    }
  },
};
