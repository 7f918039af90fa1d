CREATE TABLE "grantkit_device_codes" (
	"device_code_hash" text PRIMARY KEY NOT NULL,
	"user_code_hash" text NOT NULL,
	"client_id" text NOT NULL,
	"scope" text NOT NULL,
	"status" text NOT NULL,
	"user_id" text,
	"family_id" text NOT NULL,
	"interval_seconds" integer NOT NULL,
	"last_polled_at" timestamp (3) with time zone,
	"last_poll_slow_down" boolean DEFAULT false NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL,
	"extra" jsonb
);
--> statement-breakpoint
CREATE UNIQUE INDEX "grantkit_device_codes_user_code_hash_unique" ON "grantkit_device_codes" USING btree ("user_code_hash");--> statement-breakpoint
CREATE INDEX "grantkit_device_codes_expires_at_idx" ON "grantkit_device_codes" USING btree ("expires_at");