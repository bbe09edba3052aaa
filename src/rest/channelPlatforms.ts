import { z } from 'zod';
import { CHANNEL_PLATFORMS } from '../lib/channelPlatforms.js';
import { defineOperation, type Operation } from './operation.js';

const platform = z
  .object({
    platform: z.string(),
    displayName: z.string(),
    brandColor: z.string().optional(),
    iconUrl: z.string().optional(),
    isPlugin: z.boolean(),
  })
  .meta({ id: 'ChannelPlatform' });

/** The platform catalogue (src/lib/channelPlatforms.ts); channels themselves are another capability. */
export function channelPlatformOperations(): Operation[] {
  return [
    defineOperation({
      name: 'channelPlatforms',
      summary: 'The messaging platforms a channel can connect to',
      method: 'get',
      path: '/api/channels/platforms',
      auth: 'user',
      tags: ['Channels'],
      output: z.object({ platforms: z.array(platform) }),
      handler: async () => ({ platforms: CHANNEL_PLATFORMS.map((entry) => ({ ...entry })) }),
    }),
  ];
}
