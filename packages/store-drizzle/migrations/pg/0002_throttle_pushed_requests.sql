CREATE TABLE "grantkit_pushed_requests" (
	"uri_hash" text PRIMARY KEY NOT NULL,
	"client_id" text NOT NULL,
	"params" text NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "grantkit_throttle" (
	"key" text PRIMARY KEY NOT NULL,
	"hits" bigint[] NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "grantkit_pushed_requests_expires_at_idx" ON "grantkit_pushed_requests" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "grantkit_throttle_expires_at_idx" ON "grantkit_throttle" USING btree ("expires_at");