/** Environment variable names that hold a secret: never set from a literal, always from a Secret key. */
export const SECRET_NAME = /(SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|APIKEY|PRIVATE_KEY|CREDENTIALS?)$/i;
