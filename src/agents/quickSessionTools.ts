/**
 * Tools a Kin does not get in a quick session (messages.md §5, the original's list): a side
 * conversation must not spawn work, reach other Kins or channels, manage the platform or write the
 * Kin's memory. Tools not in the catalogue yet are listed so that they stay out when they land.
 */
export const QUICK_SESSION_EXCLUDED_TOOLS: ReadonlySet<string> = new Set([
  // tasks and sub-Kins
  'spawn_self',
  'spawn_kin',
  'respond_to_task',
  'cancel_task',
  'list_tasks',
  'report_to_parent',
  'update_task_status',
  'request_input',
  // inter-Kin
  'list_kins',
  'send_message',
  'reply',
  // crons and their journal
  'create_cron',
  'update_cron',
  'delete_cron',
  'list_crons',
  'get_cron_journal',
  // MCP management
  'add_mcp_server',
  'update_mcp_server',
  'remove_mcp_server',
  'list_mcp_servers',
  // custom tools
  'register_tool',
  'list_custom_tools',
  // Kin management
  'create_kin',
  'update_kin',
  'delete_kin',
  'get_kin_details',
  // webhooks
  'create_webhook',
  'update_webhook',
  'delete_webhook',
  'list_webhooks',
  // channels and platform
  'send_channel_message',
  'list_channel_conversations',
  'get_platform_logs',
  // memory is read-only here
  'memorize',
  'update_memory',
  'forget',
]);
