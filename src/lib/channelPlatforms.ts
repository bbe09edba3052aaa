/**
 * The messaging platforms a channel can connect to (channels-contacts.md §1), as the web app's
 * channel pages show them. Brand colours are each platform's published primary colour. Plugins may
 * add platforms later (`isPlugin: true`); none do yet.
 */
export type ChannelPlatform = {
  platform: string;
  displayName: string;
  brandColor?: string;
  iconUrl?: string;
  isPlugin: boolean;
};

export const CHANNEL_PLATFORMS: readonly ChannelPlatform[] = [
  { platform: 'telegram', displayName: 'Telegram', brandColor: '#26A5E4', isPlugin: false },
  { platform: 'discord', displayName: 'Discord', brandColor: '#5865F2', isPlugin: false },
  { platform: 'slack', displayName: 'Slack', brandColor: '#4A154B', isPlugin: false },
  { platform: 'whatsapp', displayName: 'WhatsApp', brandColor: '#25D366', isPlugin: false },
  { platform: 'signal', displayName: 'Signal', brandColor: '#3A76F0', isPlugin: false },
  { platform: 'matrix', displayName: 'Matrix', brandColor: '#000000', isPlugin: false },
];
