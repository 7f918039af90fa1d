// What /mcp needs of the MCP SDK, in one module that mcp.ts imports on the first request.
export { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
export { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
export { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
export { z } from 'zod'
